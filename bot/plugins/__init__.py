"""What config.yml and the launcher plug into Rasa: our NLU components and ``rasa run`` with
its JWT secret kept out of the process list. (Not named ``rasa`` so as not to shadow Rasa.)"""
