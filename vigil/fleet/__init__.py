"""The fleet: cameras shared by many boxes through NATS JetStream key-value buckets (docs/SCALING.md)."""
