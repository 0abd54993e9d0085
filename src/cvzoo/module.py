"""The one LightningModule: any backbone x head x task, configured from the resolved config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor

from cvzoo.augment import build_augmentation
from cvzoo.errors import DivergedError
from cvzoo.models import build_model
from cvzoo.optim import build_optimizer, build_scheduler
from cvzoo.tasks import get_task


class CvzooModule(L.LightningModule):
    """Train, validate and test a ``CvzooModel`` with the task's loss and metrics."""

    def __init__(self, cfg: Mapping[str, Any], class_names: list[str], ignore_index: int = 255) -> None:
        super().__init__()
        self.save_hyperparameters(
            {"cfg": dict(cfg), "class_names": list(class_names), "ignore_index": ignore_index}
        )
        self.cfg = cfg
        data = cfg["dataset"]
        self.task = get_task(str(data["task"]))
        self.ignore_index = ignore_index
        num_classes = len(class_names)
        self.model, self.model_info = build_model(
            cfg["backbone"], cfg["head"], num_classes, data["mean"], data["std"]
        )
        self.criterion = self.task.criterion(self.model, ignore_index, float(cfg.get("label_smoothing", 0.0)))
        # Items may arrive as a larger cached square; the device brings them to the training size.
        self.image_size = int(data["image_size"])
        self.eval_crop = float(data.get("eval_crop", 0.875))
        self.augment = build_augmentation(
            cfg.get("augmentation"), self.task.name, ignore_index, output_size=self.image_size
        )
        self.metrics = torch.nn.ModuleDict(
            {
                stage: self.task.metrics(num_classes, ignore_index).clone(prefix=f"{stage}/")
                for stage in ("val", "test")
            }
        )
        self.per_class_name = self.task.per_class_field
        self.per_class = self.task.per_class_metric(num_classes, ignore_index)
        self.confusion = self.task.confusion_metric(num_classes, ignore_index)
        self.per_class_values: list[float | None] = []
        self.curve_values: dict[str, dict[str, list[float | None]]] = {}
        self.confusion_values: list[list[int]] = []
        self.channels_last = bool(cfg.get("trainer", {}).get("channels_last", False))
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> Tensor:
        """Logits for float images in [0, 1]."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Scale uint8 images to [0, 1] on the device, fit them to the training size, augment in training."""
        images, targets = batch
        images = images.float().div_(255.0)
        augment = self.augment is not None and self.trainer is not None and self.trainer.training
        if not (augment and self.augment.crops):  # a resized_crop goes to the training size itself
            images, targets = self.task.fit(images, targets, self.image_size, self.eval_crop)
        if augment:
            images, targets = self.task.augment(self.augment, images, targets)
        return images, targets

    def training_step(self, batch: tuple[Tensor, Any], batch_idx: int) -> Tensor:
        """One optimization step; a non-finite loss stops the run as diverged."""
        images, targets = batch
        loss = self.criterion(self(images), targets)
        if self._check_finite_now(loss) and not torch.isfinite(loss):
            raise DivergedError(
                f"loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}"
            )
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(images))
        return loss

    def _check_finite_now(self, loss: Tensor) -> bool:
        """Every step on CPU; on accelerators only at logging steps (the check syncs the host).

        A NaN loss poisons the weights, so the next check still sees it: at most
        ``log_every_n_steps`` steps are lost, and the GPU queue is not drained every step.
        """
        if loss.device.type == "cpu" or self._trainer is None:
            return True
        return self.global_step % max(int(self.trainer.log_every_n_steps), 1) == 0

    def _eval_step(self, batch: tuple[Tensor, Any], stage: str) -> None:
        """Loss and metric updates shared by validation and test."""
        images, targets = batch
        logits = self(images)
        self.log(
            f"{stage}/loss",
            self.criterion(logits, targets),
            on_epoch=True,
            prog_bar=stage == "val",
            batch_size=len(images),
            sync_dist=True,
        )
        preds = self.task.predictions(self.model, logits)
        self.metrics[stage].update(preds, targets)
        if stage == "test":
            self.per_class.update(preds, targets)
            if self.confusion is not None:
                self.confusion.update(preds, targets)

    def validation_step(self, batch: tuple[Tensor, Any], batch_idx: int) -> None:
        """Accumulate validation metrics."""
        self._eval_step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Any], batch_idx: int) -> None:
        """Accumulate test metrics."""
        self._eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        """Log and reset validation metrics."""
        self.log_dict(self.task.loggable(self.metrics["val"].compute()), prog_bar=True, sync_dist=True)
        self.metrics["val"].reset()

    def on_test_epoch_end(self) -> None:
        """Log test metrics and keep the per-class values for the run record."""
        self.log_dict(self.task.loggable(self.metrics["test"].compute()), sync_dist=True)
        self.metrics["test"].reset()
        computed = self.per_class.compute()
        self.per_class_values = self.task.per_class_values(computed, len(self.hparams["class_names"]))
        self.curve_values = self.task.curves(self.per_class, computed)
        self.per_class.reset()
        if self.confusion is not None:
            self.confusion_values = self.confusion.compute().detach().cpu().long().tolist()
            self.confusion.reset()
        if self.task.confusion_figure:
            self._log_confusion_figure()

    def _log_confusion_figure(self) -> None:
        """Show the test confusion matrix in TensorBoard (when that logger is active)."""
        from lightning.pytorch.loggers import TensorBoardLogger

        from cvzoo.results.report_plots import confusion_figure

        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger) and self.confusion_values:
                names = self.hparams["class_names"]
                figure = confusion_figure(self.confusion_values, names, "Confusion matrix (test)")
                logger.experiment.add_figure("test/confusion_matrix", figure, global_step=self.global_step)

    def configure_optimizers(self) -> Any:
        """Optimizer and scheduler from their config groups."""
        optimizer = build_optimizer(self.cfg["optimizer"], self.model)
        total = int(self.trainer.estimated_stepping_batches) if self.trainer is not None else 1
        scheduler = build_scheduler(self.cfg["scheduler"], optimizer, total, str(self.cfg["monitor"]))
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
