"""OpenADR 2.0b VEN (openleadr)."""
