"""rewardlab.scoring"""
