"""kubemcsa: bootstrap, rotate and tear down trust between clusters; export and doctor (entry point: cli.main)."""
