"""Local, protocol-faithful stand-ins of the systems Tandem connects (``tandem sandbox``)."""
