"""symcore.resume: the loader's state round trip, skipping, keyed draws, and a real Lightning interrupt + resume."""

import pytest
import torch
from torch.utils.data import DataLoader

L = pytest.importorskip("lightning", reason="symcore.resume needs Lightning (symphonia-core[lightning])")
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from symcore.resume import EpochSampler, ResumableLoader, StepSeed, keyed_seed  # noqa: E402


class Noisy(torch.utils.data.Dataset):
    """Item i = (i, a draw from torch's global generator): shows which random stream each item used."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return torch.tensor(i), torch.rand(())


def epoch(loader, e):
    loader.sampler.set_epoch(e)
    return [tuple(t.tolist() for t in b) for b in loader]


def test_keyed_seed_mixes_and_separates():
    assert keyed_seed(1, 0, 2, 3) == keyed_seed(1, 0, 2, 3)
    assert len({keyed_seed(s, 0, e, k) for s in range(3) for e in range(3) for k in range(30)}) == 270
    assert 0 <= keyed_seed(2**32 - 1, 9) < 2**63


def test_epochs_are_seeded_permutations_with_keyed_draws():
    a, b = ResumableLoader(Noisy(), batch_size=3, seed=5), ResumableLoader(Noisy(), batch_size=3, seed=5)
    e0 = epoch(a, 0)
    torch.manual_seed(123)  # the global stream does not matter
    assert epoch(b, 0) == e0
    assert sorted(i for batch in e0 for i in batch[0]) == list(range(10))  # every item once, last batch of 1
    assert [len(x[0]) for x in e0] == [3, 3, 3, 1]
    assert epoch(a, 1) != e0 and sorted(i for x in epoch(a, 1) for i in x[0]) == list(range(10))
    assert epoch(ResumableLoader(Noisy(), batch_size=3, seed=6), 0) != e0
    before = torch.get_rng_state()
    epoch(a, 2)
    assert torch.equal(torch.get_rng_state(), before)  # item draws leave the caller's generator alone


def test_workers_draw_the_same_items():
    ref = epoch(ResumableLoader(Noisy(), batch_size=3, seed=5), 1)
    assert epoch(ResumableLoader(Noisy(), batch_size=3, seed=5, num_workers=2), 1) == ref


def test_state_round_trip_skips_trained_batches():
    ref = ResumableLoader(Noisy(), batch_size=3, seed=5)
    full0, full1 = epoch(ref, 0), epoch(ref, 1)
    a = ResumableLoader(Noisy(), batch_size=3, seed=5)
    a.sampler.set_epoch(1)
    it = iter(a)
    seen = [tuple(t.tolist() for t in next(it)) for _ in range(2)]
    state = a.state_dict()
    assert state == {"epoch": 1, "trained": 2} and seen == full1[:2]

    b = ResumableLoader(Noisy(), batch_size=3, seed=5)  # a fresh process: nothing but the state
    b.load_state_dict(state)
    rest = [tuple(t.tolist() for t in x) for x in b]
    assert rest == full1[2:]
    assert b.state_dict() == {"epoch": 1, "trained": 4}
    assert epoch(b, 2) == epoch(ref, 2)  # the next epoch starts from its beginning again

    for trained in (len(b), 2):  # saved at the end of epoch 0 (also a shortened one: limit_train_batches)
        c = ResumableLoader(Noisy(), batch_size=3, seed=5)
        c.load_state_dict({"epoch": 0, "trained": trained})
        it = iter(c)  # Lightning: iter() first, then set_epoch(1) for the epoch it goes on with
        c.sampler.set_epoch(1)
        assert [tuple(t.tolist() for t in x) for x in it] == full1
    assert full0 != full1


def test_sampler_shares_positions_between_ranks():
    ranks = [EpochSampler(10, seed=1) for _ in range(2)]
    for r, s in enumerate(ranks):
        s.num_replicas, s.rank = 2, r
        s.num_samples, s.total_size = 5, 10
    keys = [list(s) for s in ranks]
    assert sorted(k[1] for ks in keys for k in ks) == list(range(10))  # each position on exactly one rank
    assert sorted(k[2] for ks in keys for k in ks) == list(range(10))
    assert isinstance(ranks[0], torch.utils.data.DistributedSampler)  # so Lightning does not replace it


class Tiny(L.LightningModule):
    """A dropout MLP on the Noisy items: its losses depend on the data order, the item draws and the step seed."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 1))
        self.losses = {}

    def training_step(self, batch, batch_idx):
        i, noise = batch
        x = torch.stack([i.float() / 10, noise], 1)
        loss = (self.net(x).squeeze(1) - torch.sin(i.float())).pow(2).mean()
        self.losses[self.global_step + 1] = loss.item()
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Interrupted(Exception):
    pass


class Stop(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 6:
            raise Interrupted  # after a checkpoint at step 3 or 4; the steps after it are lost


def fit(tmp, loader, every, limit, ckpt_path=None, stop=False, step_seed=True):
    torch.manual_seed(0)
    model = Tiny()
    ckpt = ModelCheckpoint(dirpath=tmp, every_n_train_steps=every, save_last=True, save_top_k=-1)
    trainer = L.Trainer(max_steps=10, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, limit_train_batches=limit,
                        callbacks=[ckpt] + ([StepSeed(3)] if step_seed else []) + ([Stop()] if stop else []))
    try:
        trainer.fit(model, train_dataloaders=loader, ckpt_path=ckpt_path)
    except Interrupted:
        pass
    return model.losses


@pytest.mark.parametrize("resumable,every,limit,step_seed", [(True, 4, None, True), (True, 3, None, True),
                                                              (True, 4, 2, True), (False, 4, None, True),
                                                              (True, 4, None, False)])
def test_lightning_resume(tmp_path, resumable, every, limit, step_seed):
    """3 batches per epoch; a checkpoint at step 4 (mid-epoch 1), 3 (end of epoch 0) or 4 with 2-batch epochs
    (limit_train_batches: an epoch end the loader cannot see), stopped after step 6: the resumed steps equal the
    uninterrupted run's only with the resumable loader (a plain shuffled one replays epoch 1 from its start in a
    new order, with new draws), and only with StepSeed (else the resumed dropout masks differ)."""
    def make():
        if resumable:
            return ResumableLoader(Noisy(), batch_size=4, seed=5)
        return DataLoader(Noisy(), batch_size=4, shuffle=True)

    base = fit(tmp_path / "a", make(), every, limit, step_seed=step_seed)
    stopped = fit(tmp_path / "b", make(), every, limit, stop=True, step_seed=step_seed)
    assert sorted(stopped) == list(range(1, 7)) and stopped == {s: base[s] for s in stopped}
    resumed = fit(tmp_path / "b", make(), every, limit, ckpt_path=str(tmp_path / "b" / "last.ckpt"),
                  step_seed=step_seed)
    assert sorted(resumed) == list(range(every + 1, 11))
    same = all(resumed[s] == pytest.approx(base[s], rel=1e-6) for s in resumed)
    assert same is (resumable and step_seed)
