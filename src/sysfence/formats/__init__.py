"""Profile formats other than sysfence TOML: OCI/Docker JSON, systemd, Kubernetes."""
