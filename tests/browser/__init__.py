"""The web console in a real browser: Debian's Chromium driven by Selenium against a real daemon."""
