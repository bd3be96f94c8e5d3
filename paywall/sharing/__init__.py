"""Letting readers in on purpose: subscribers' gift links, capped free reads for readers
arriving from chosen sites (referrals), and signed previews of any prompt for editors."""
