"""rewardlab.eval"""
