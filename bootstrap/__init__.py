"""kubemcsa: bootstrap trust between clusters (the CLI itself is a later issue; see the README)."""
