"""podnet-churn: a pod-churn load tester for CNI plugin chains (podnet and reference)."""
