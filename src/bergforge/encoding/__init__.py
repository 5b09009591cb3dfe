"""encoding stage of bergforge."""
