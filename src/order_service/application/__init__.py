"""Use cases and the ports (typing.Protocol) they depend on. No driver, no framework."""
