from .mean_recall_hook import RetrievalMeanRecallHook, mean_retrieval_recall

__all__ = ['RetrievalMeanRecallHook', 'mean_retrieval_recall']
