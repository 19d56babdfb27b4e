"""dlexam: the autograding kit of the OPT8 deep-learning exam."""
__version__ = "0.1.0"
