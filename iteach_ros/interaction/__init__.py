"""The interactive step, in one place (ROS-free): what happens in one control step of LLM-iTeach
and how steps become training data.

The in-process experiment runner and the ROS 2 nodes both call these classes, so a step means
the same thing in either transport:

- ``labels``: the arbitration of one step into a label (executed action, feedback kind, whether
  it is trained on, angle), teacher faults included;
- ``episode``: the assembly of an episode's observations and labels, in any arrival order, into
  a trajectory, and the per-episode feedback statistics;
- ``lockstep``: the rules that keep the distributed loop in step (one executed action per
  observation, stale and duplicate actions, retries, pairing, restart detection) and the
  agent's and teacher's per-episode state;
- ``pace``: how much training an episode waits for;
- ``loop``: the step loop itself, for one process.
"""
