"""rewardlab.audit"""
