"""Test helpers shared by test modules and bench scripts (not part of the product)."""
