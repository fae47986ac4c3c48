"""The JamJet runtime's wire contract: IR, events, messages, subjects, streams and shared plumbing."""
