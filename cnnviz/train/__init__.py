"""Training CNNs, the chapter's hands-on labs: networks trained from scratch and fine-tuned,
on data that ships with the app."""
