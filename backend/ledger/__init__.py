"""The debt ledger: dated entries (principal, interest, fees, payments) that explain a balance."""
