"""The local web page (`tunegen serve`): a FastAPI app over the studio and the tune library."""
