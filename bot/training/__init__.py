"""Training: store data in, profiles, segments, influence and a course ranker out."""
