"""The annotation server: the work queue now; the HTTP app comes later and calls into it."""
