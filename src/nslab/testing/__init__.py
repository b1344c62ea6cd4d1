"""Helpers for testing nslab and labs: a throwaway OpenSSH server on loopback."""
