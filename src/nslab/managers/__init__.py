"""Firewall managers on lab hosts: ufw, firewalld and Docker, run for real inside a host's
namespaces with their own copies of configuration and state, never the machine's own."""
