"""Small shared pieces with no daemon logic: clock, ids, logging, service lifecycle, waiting."""
