"""The built-in curation steps; importing this package registers them."""
