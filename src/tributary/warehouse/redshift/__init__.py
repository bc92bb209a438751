"""Amazon Redshift as the warehouse."""
