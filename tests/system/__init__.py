"""End-to-end tests: the .deb under a real systemd booted in a systemd-nspawn container."""
