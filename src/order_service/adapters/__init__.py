"""Everything that imports a driver or a framework, each implementing a port."""
