r"""Matrix factorisation (Koren, Bell & Volinsky, "Matrix Factorization Techniques for Recommender
Systems", IEEE Computer 2009): :math:`\hat y_{ui} = p_u^\top q_i`."""
from __future__ import annotations

from typing import Optional, Tuple

from torch import Tensor, nn

from .base import MODELS, Recommender, xavier_embedding


@MODELS.register("mf")
class MF(Recommender):
    r"""Inner-product matrix factorisation with Xavier-initialised embeddings.

    Args:
        data (HeteroData): The dataset (node counts and training edges).
        config (EncoderConfig, optional): ``embedding_dim`` (default: 64).
    """

    sparse_gradients = True
    linear_representations = True
    representations_are_embeddings = True

    def __init__(self, data, config=None, **overrides):
        super().__init__(data, config, **overrides)
        self.user_embedding = xavier_embedding(self.num_users, self.embedding_dim)
        self.item_embedding = xavier_embedding(self.num_items, self.embedding_dim)

    def reset_parameters(self):
        for emb in (self.user_embedding, self.item_embedding):
            nn.init.xavier_uniform_(emb.weight)

    def embedding_tables(self) -> Tuple[Tensor, Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight

    def representations(self, users: Optional[Tensor] = None, items: Optional[Tensor] = None):
        user_table, item_table = self.embedding_tables()
        return (user_table if users is None else self.gather(user_table, users),
                item_table if items is None else self.gather(item_table, items))
