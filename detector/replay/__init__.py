"""`detector replay`: the pipeline over files in event time, its inputs, output and report."""
