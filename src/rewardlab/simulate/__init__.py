"""rewardlab.simulate"""
