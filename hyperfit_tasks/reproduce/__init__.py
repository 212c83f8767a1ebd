"""``hyperfit-reproduce``'s library: the paper's claims decided from the steps' outputs (claims), and their report."""
