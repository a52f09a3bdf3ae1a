"""AWS regions this function accepts, with their partition (data, not code).

The commercial, China and GovCloud partitions. ``tests/test_regions.py`` checks this
table against botocore's offline endpoint data, so it never drifts; nothing heavy is
imported at run time.
"""

REGIONS: dict[str, str] = {
    "af-south-1": "aws",
    "ap-east-1": "aws",
    "ap-east-2": "aws",
    "ap-northeast-1": "aws",
    "ap-northeast-2": "aws",
    "ap-northeast-3": "aws",
    "ap-south-1": "aws",
    "ap-south-2": "aws",
    "ap-southeast-1": "aws",
    "ap-southeast-2": "aws",
    "ap-southeast-3": "aws",
    "ap-southeast-4": "aws",
    "ap-southeast-5": "aws",
    "ap-southeast-6": "aws",
    "ap-southeast-7": "aws",
    "ca-central-1": "aws",
    "ca-west-1": "aws",
    "eu-central-1": "aws",
    "eu-central-2": "aws",
    "eu-north-1": "aws",
    "eu-south-1": "aws",
    "eu-south-2": "aws",
    "eu-west-1": "aws",
    "eu-west-2": "aws",
    "eu-west-3": "aws",
    "il-central-1": "aws",
    "me-central-1": "aws",
    "me-south-1": "aws",
    "mx-central-1": "aws",
    "sa-east-1": "aws",
    "us-east-1": "aws",
    "us-east-2": "aws",
    "us-west-1": "aws",
    "us-west-2": "aws",
    "cn-north-1": "aws-cn",
    "cn-northwest-1": "aws-cn",
    "us-gov-east-1": "aws-us-gov",
    "us-gov-west-1": "aws-us-gov",
}


def partition(region: str) -> str:
    """The ARN partition of a region: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    return REGIONS[region]


def region_error(value: str) -> str:
    """The message for an unknown region: it lists the allowed values."""
    return "must be an AWS region, one of: " + ", ".join(REGIONS)
