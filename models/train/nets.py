"""Speaker-embedding networks of the model lab (all take CMN'd fbank `[batch, frames, 80]`).

- `XVectorTDNN`  x-vector TDNN (Snyder et al., ICASSP 2018): 5 dilated frame layers, mean+std statistics
  pooling, segment layer `seg6` = the embedding; softmax cross-entropy head.
- `ResNetASP`    thin ResNet (He et al. 2016; "thin ResNet34" of VoxCeleb trainer, here 2-2-2-2 blocks) with
  attentive statistics pooling (Okabe et al. 2018); additive angular margin softmax head (ArcFace/AAM,
  Deng et al. 2019).
- `LSTMDVector`  3-layer LSTM d-vector (Wan et al., GE2E, ICASSP 2018): projection of the last layer,
  averaged over frames, L2-normalised; trained with the GE2E softmax loss.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def stats_pool(x: torch.Tensor) -> torch.Tensor:
    """`[B, C, T]` → `[B, 2C]` mean and standard deviation over time."""
    mean = x.mean(dim=2)
    var = (x - mean.unsqueeze(2)).pow(2).mean(dim=2)
    return torch.cat([mean, torch.sqrt(var.clamp(min=1e-5))], dim=1)


class TDNNLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, d: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel_size=k, dilation=d)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class XVectorTDNN(nn.Module):
    def __init__(self, n_classes: int, channels: int = 512, stats_channels: int = 1500, emb_dim: int = 512,
                 dropout: float = 0.0, emb_layer: str = "seg6") -> None:
        super().__init__()
        c, s = channels, stats_channels
        self.frames = nn.Sequential(
            TDNNLayer(80, c, 5, 1), TDNNLayer(c, c, 3, 2), TDNNLayer(c, c, 3, 3), TDNNLayer(c, c, 1, 1),
            TDNNLayer(c, s, 1, 1),
        )
        self.seg6 = nn.Linear(2 * s, emb_dim)
        self.head = nn.Sequential(
            nn.ReLU(), nn.BatchNorm1d(emb_dim), nn.Dropout(dropout), nn.Linear(emb_dim, emb_dim), nn.ReLU(),
            nn.BatchNorm1d(emb_dim), nn.Linear(emb_dim, n_classes),
        )
        self.emb_dim = emb_dim
        self.emb_layer = emb_layer

    def embed(self, fbank: torch.Tensor) -> torch.Tensor:
        seg6 = self.seg6(stats_pool(self.frames(fbank.transpose(1, 2))))
        return seg6 if self.emb_layer == "seg6" else self.head[:4](seg6)

    def logits(self, emb: torch.Tensor, labels=None) -> torch.Tensor:
        return self.head(emb) if self.emb_layer == "seg6" else self.head[4:](emb)



class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


class AAMSoftmax(nn.Module):
    """Additive angular margin softmax: s * cos(theta_y + m) for the target class, s * cos(theta) otherwise."""

    def __init__(self, emb_dim: int, n_classes: int, margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, emb_dim))
        nn.init.xavier_normal_(self.weight)
        self.margin, self.scale = margin, scale

    def forward(self, emb: torch.Tensor, labels=None) -> torch.Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight)).clamp(-1 + 1e-7, 1 - 1e-7)
        if labels is None:
            return self.scale * cos
        m = self.margin
        sin = torch.sqrt(1.0 - cos * cos)
        phi = cos * math.cos(m) - sin * math.sin(m)
        # keep the function monotonic where theta + m > pi (standard "easy margin off" fix)
        phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)
        one_hot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        return self.scale * (one_hot * phi + (1 - one_hot) * cos)


class ResNetASP(nn.Module):
    def __init__(self, n_classes: int, widths=(16, 32, 64, 128), blocks=(2, 2, 2, 2), emb_dim: int = 192,
                 margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.body = nn.Sequential(*layers)
        feat = widths[-1] * (80 // 8)
        self.attention = nn.Sequential(nn.Conv1d(feat, 128, 1), nn.ReLU(), nn.BatchNorm1d(128), nn.Conv1d(128, feat, 1))
        self.bn_pool = nn.BatchNorm1d(2 * feat)
        self.fc = nn.Linear(2 * feat, emb_dim)
        self.bn_emb = nn.BatchNorm1d(emb_dim)
        self.aam = AAMSoftmax(emb_dim, n_classes, margin, scale)
        self.emb_dim = emb_dim

    def embed(self, fbank: torch.Tensor) -> torch.Tensor:
        x = self.body(self.stem(fbank.transpose(1, 2).unsqueeze(1)))  # [B, C, 10, T/8]
        x = x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        w = torch.softmax(self.attention(x), dim=2)
        mean = (x * w).sum(dim=2)
        std = torch.sqrt((((x * x) * w).sum(dim=2) - mean * mean).clamp(min=1e-5))
        return self.bn_emb(self.fc(self.bn_pool(torch.cat([mean, std], dim=1))))

    def logits(self, emb: torch.Tensor, labels=None) -> torch.Tensor:
        return self.aam(emb, labels)


def lstm_as_conv(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """nn.LSTM forward (batch_first, zero initial state, gate order i, f, g, o) with the matrix products done
    as 1x1 convolutions. `[B, T, in]` → last layer's outputs `[B, T, hidden]`."""
    B, T, _ = x.shape
    for layer in range(lstm.num_layers):
        w_ih = getattr(lstm, f"weight_ih_l{layer}")
        w_hh = getattr(lstm, f"weight_hh_l{layer}").unsqueeze(2)
        bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        xp = F.conv1d(x.transpose(1, 2), w_ih.unsqueeze(2), bias)  # [B, 4H, T]
        h = x.new_zeros(B, lstm.hidden_size)
        c = x.new_zeros(B, lstm.hidden_size)
        outs = []
        for xt in xp.unbind(2):  # unbind: one gradient stack in backward, not T full-size slices
            g = xt + F.conv1d(h.unsqueeze(2), w_hh).squeeze(2)
            i, f, gg, o = g.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        x = torch.stack(outs, dim=1)
    return x


class LSTMDVector(nn.Module):
    def __init__(self, n_classes: int = 0, hidden: int = 256, layers: int = 3, emb_dim: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(80, hidden, num_layers=layers, batch_first=True)
        self.proj = nn.Linear(hidden, emb_dim)
        # GE2E similarity scale and bias (w > 0), initial values of the paper
        self.w = nn.Parameter(torch.tensor(10.0))
        self.b = nn.Parameter(torch.tensor(-5.0))
        self.emb_dim = emb_dim

        # the Debian torch build has a generic (slow) BLAS but oneDNN convolutions: train and evaluate with
        # `lstm_as_conv` (same weights, same equations); the ONNX export uses nn.LSTM (`fast = False`).
        self.fast = True

    def embed(self, fbank: torch.Tensor) -> torch.Tensor:
        out = lstm_as_conv(self.lstm, fbank) if self.fast else self.lstm(fbank)[0]
        # the projection is linear, so projecting the frame average = averaging the projected frames
        return F.normalize(self.proj(out.mean(dim=1)), dim=1)

    def ge2e_loss(self, emb: torch.Tensor, n_spk: int, n_utt: int):
        """GE2E softmax loss on `[n_spk * n_utt, D]` embeddings grouped by speaker. Returns (loss, accuracy)."""
        e = emb.view(n_spk, n_utt, -1)
        centroids = F.normalize(e.mean(dim=1), dim=1)  # [N, D]
        excl = F.normalize((e.sum(dim=1, keepdim=True) - e) / (n_utt - 1), dim=2)  # [N, M, D]
        sim = torch.einsum("nmd,kd->nmk", F.normalize(e, dim=2), centroids)  # [N, M, N]
        own = (F.normalize(e, dim=2) * excl).sum(dim=2)  # [N, M]
        idx = torch.arange(n_spk)
        sim[idx, :, idx] = own
        sim = self.w.clamp(min=1e-6) * sim + self.b
        labels = idx.repeat_interleave(n_utt)
        logits = sim.reshape(n_spk * n_utt, n_spk)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(dim=1) == labels).float().mean().item()
        return loss, acc


class Centred(nn.Module):
    """Export wrapper: `embedding = net.embed(fbank) - mean_training_embedding` (x-vector centring)."""

    def __init__(self, net: nn.Module, mean: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.clone())

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return self.net.embed(fbank) - self.mean


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def embedding_params(net: nn.Module) -> int:
    """Parameters of the embedding extractor alone (what the ONNX file holds; no classifier head or GE2E w, b)."""
    if isinstance(net, XVectorTDNN):
        used = [net.frames, net.seg6] + ([net.head[:4]] if net.emb_layer == "seg7" else [])
        return sum(count_params(m) for m in used)
    if isinstance(net, ResNetASP):
        return count_params(net) - count_params(net.aam)
    if isinstance(net, LSTMDVector):
        return count_params(net) - 2
    return count_params(net)
