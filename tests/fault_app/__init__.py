"""A Django app for the system tests only: the `fault-reserve` consumer and its topic.

project/settings/test.py installs it, so it registers in the workers the system tests
start and never in a production worker.
"""
