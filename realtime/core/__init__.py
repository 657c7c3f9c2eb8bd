"""The foundation of the foundation: the error family, the console, the Frame every stage passes on,
the problem record of annotation readers. Imports nothing else of the project."""
