"""Campaigns: cadence policies (dunning levels), the compliance gate, planning and follow-up."""
