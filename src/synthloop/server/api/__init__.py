"""HTTP handlers, one module per resource: parse, check the policy, call the library, shape."""
