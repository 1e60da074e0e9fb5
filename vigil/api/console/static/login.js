"use strict";
// Sign-in: the token goes once in a JSON body to POST /api/v1/session (never in a URL); the
// answer sets an HttpOnly cookie, and reloading `/` then shows the console.
(() => {
  const form = document.getElementById("login");
  const input = document.getElementById("token");
  const message = form.querySelector(".message");
  const button = form.querySelector("button[type=submit]");

  function say(text) {
    message.textContent = text;
    message.className = text ? "message error" : "message";
  }

  async function problem(response) {
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") return body.error;
    } catch (error) {
      // not JSON: fall back to the status below
    }
    return `the API refused the sign-in (HTTP ${response.status})`;
  }

  async function signIn(event) {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      say("Enter the API token (api.token, or the contents of api.token_file).");
      return;
    }
    say("");
    button.disabled = true;
    try {
      const response = await fetch("/api/v1/session", {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-Vigil-Console": "1"},
        body: JSON.stringify({token}),
      });
      if (response.ok) {
        input.value = "";
        location.reload();
        return;
      }
      say(await problem(response));
      input.select();
    } catch (error) {
      say("Cannot reach the vigil daemon; is it running?");
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", signIn);
})();
