"""The interface every MINE engine offers: ``B`` statistics networks trained together."""

from abc import ABC, abstractmethod


class MINENetworks(ABC):
    """``B`` independent statistics networks, one per sample, behind one interface.

    What the attack and :func:`~sk_uae.mine.estimate_mi` call, whichever
    engine runs (:func:`~sk_uae.mine._engines.make_networks` builds one by
    name). Every method takes the pairs of all ``B`` networks at once:
    ``a`` and ``b``, of shape ``(B, K, p)``, are the ``x`` side and the
    ``x'`` side of each network's ``K`` pairs, and a shuffle ``perm`` of
    shape ``(K,)`` pairs ``a[:, k]`` with ``b[:, perm[k]]`` to form the
    marginal samples of the Donsker-Varadhan bound. Network ``i`` only ever
    sees row ``i``, so a sample's result does not depend on its batch.

    The engines agree to float rounding; they differ in how they compute:

    * :class:`~sk_uae.mine.StatisticsNetworks` -- autograd, the reference;
    * :class:`~sk_uae.mine.FusedStatisticsNetworks` -- written-out
      gradients in torch, or (built with ``native=True``) in compiled code.

    Attributes
    ----------
    differentiable : bool
        Whether :meth:`estimate` keeps torch's autograd graph back to ``b``.
        Where it does, a caller may differentiate through the pairs and the
        bound with autograd (the reference path of the attack); elsewhere
        the gradient in ``b`` comes from :meth:`estimate_and_grad` only.
    """

    differentiable = False

    @abstractmethod
    def train(self, a, b, perms):
        """``len(perms)`` Adam ascent steps of every network on its own pairs.

        Parameters
        ----------
        a, b : torch.Tensor of shape (B, K, p)
            The ``x`` side and the ``x'`` side of the pairs (constants: no
            gradient flows back to them).
        perms : sequence of torch.LongTensor of shape (K,)
            The shuffle of each step (a list, or a tensor of shape (S, K)).

        Returns
        -------
        torch.Tensor of shape (B,) or None
            The bound before the last step (``None`` without steps).
        """

    @abstractmethod
    def estimate(self, a, b, perm):
        """Donsker-Varadhan estimate per network.

        Parameters
        ----------
        a, b : torch.Tensor of shape (B, K, p)
            The ``x`` side and the ``x'`` side of the pairs.
        perm : torch.LongTensor of shape (K,)
            The shuffle of the pair index that forms the marginal samples.

        Returns
        -------
        torch.Tensor of shape (B,)
            Differentiable with respect to ``b`` where :attr:`differentiable`.
        """

    @abstractmethod
    def estimate_and_grad(self, a, b, perm):
        """The bound and its gradient with respect to the ``x'`` side of the pairs.

        Parameters
        ----------
        a, b, perm
            As :meth:`estimate`.

        Returns
        -------
        mi : torch.Tensor of shape (B,)
            The bound, without autograd graph.
        grad_b : torch.Tensor of shape (B, K, p)
            ``d mi / d b`` of every network (each depends on its own row only).
        """

    def step(self, a, b, perm):
        """One Adam ascent step of every network on its own pairs: :meth:`train` with one shuffle.

        Parameters
        ----------
        a, b, perm
            As :meth:`estimate` (the pairs are constants).

        Returns
        -------
        torch.Tensor of shape (B,)
            The bound before the step.
        """
        return self.train(a, b, [perm])
