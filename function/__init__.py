"""function-klutch-aws: a Crossplane composition function for AWS data services."""
