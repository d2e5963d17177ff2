"""The command line's sub-commands that are not the pipeline itself (light imports)."""
