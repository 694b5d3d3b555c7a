"""The care programme: register of elders (附件2), visit plans and records (附件3), the ledger (附件1)."""
