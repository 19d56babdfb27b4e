"""Release and export: the student bundle (`dlexam release`) and the autograder zip that otter
and Gradescope run (`dlexam autograder`)."""
