"""Approve mode: the fix offered as Slack buttons, run once when an allowed person approves it.

- :mod:`~keywatch.approvals.models`: choices, approval records, the interaction log, the
  Slack payload as it arrives (parsed at the edge);
- :mod:`~keywatch.approvals.offer`: which buttons a result offers (pure);
- :mod:`~keywatch.approvals.issuer`: the approval records written when an alert is sent, and its buttons;
- :mod:`~keywatch.approvals.clicks`: a click, verified, checked against the allow-list and claimed once;
- :mod:`~keywatch.approvals.execute`: an approved action run through the engine's own remediations.
"""
