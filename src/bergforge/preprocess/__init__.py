"""preprocess stage of bergforge."""
