"""A local package a lock names by its folder."""
