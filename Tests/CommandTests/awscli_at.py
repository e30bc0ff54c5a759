#!/usr/bin/env python3
"""Runs the AWS CLI with its clock fixed: awscli_at.py 2024-01-02T03:04:05 eks get-token --cluster-name x

The test compares fleetstrap's eks-token and git-credential output to the AWS CLI's at the same instant.
"""
import datetime
import sys

fixed = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S")

import awscli.clidriver
import awscli.customizations.codecommit as codecommit
import awscli.customizations.eks.get_token as get_token
import botocore.auth

for module in (botocore.auth, get_token, codecommit):
    module.get_current_datetime = lambda *a, **k: fixed
sys.exit(awscli.clidriver.create_clidriver().main(sys.argv[2:]))
